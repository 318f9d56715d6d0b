"""Case modules, one per spec section; importing a module registers its cases."""
