"""`python -m p2pshare_cli`: how the demo starts its peers portably (sys.executable -m ...)."""

from p2pshare_cli.main import main

main()
