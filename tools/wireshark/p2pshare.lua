-- Wireshark / tshark dissector for the p2pshare protocol (spec/protocol.md, revision 1.2).
--
-- Every frame is <4: length><1: id><payload> (FRAME-1); length 0 is a keepalive. The TCP
-- stream is cut into frames with dissect_tcp_pdus, so a frame split over segments (or several
-- frames in one segment) decodes as it should. Ids 0x10..0x13 are extension SPAN's
-- (multi-piece requests, spec 5.2; meaningful only where both handshakes set capability bit
-- 0); the rest of 0x14..0xFF is extension space (FRAME-5, spec 5.1), shown as "unassigned"
-- with its raw payload.
--
-- Use:  tshark -X lua_script:p2pshare.lua -d tcp.port==PORT,p2pshare -r capture.pcap -V
-- or copy this file into Wireshark's personal Lua plugins folder and use "Decode As".
-- p2pshare has no fixed port; the heuristic below also finds a connection by its handshake
-- magic "P2PS" at the start of a TCP stream.

local p2p = Proto("p2pshare", "p2pshare peer-to-peer file sharing")

local NAMES = {
  [0x00] = "handshake", [0x01] = "bitfield", [0x02] = "have", [0x03] = "request",
  [0x04] = "piece", [0x05] = "reject", [0x06] = "cancel", [0x07] = "choke",
  [0x08] = "unchoke", [0x09] = "interested", [0x0A] = "not_interested", [0x0B] = "peers",
  [0x0C] = "metainfo_request", [0x0D] = "metainfo_data", [0x0E] = "metainfo_reject",
  [0x0F] = "error", [0x10] = "span_request", [0x11] = "span_data", [0x12] = "span_reject",
  [0x13] = "span_cancel",
}

local CAPABILITIES = { [0x01] = "SPAN (multi-piece requests)" }

local ERRORS = {
  [1] = "MALFORMED", [2] = "FRAME_TOO_LARGE", [3] = "UNEXPECTED_MESSAGE",
  [4] = "BAD_HANDSHAKE", [5] = "UNSUPPORTED_VERSION", [6] = "SHARE_MISMATCH",
  [7] = "OUT_OF_RANGE", [8] = "UNSOLICITED", [9] = "TOO_MANY_REQUESTS",
  [10] = "PEX_VIOLATION", [11] = "DUPLICATE_CONNECTION", [12] = "SELF_CONNECTION",
  [13] = "BAD_METAINFO", [14] = "TIMEOUT", [15] = "BANNED", [16] = "SHUTDOWN",
  [17] = "TOO_MANY_CONNECTIONS", [18] = "TRUNCATED",
}

local f = {
  length = ProtoField.uint32("p2pshare.length", "Length", base.DEC),
  id = ProtoField.uint8("p2pshare.id", "Message", base.HEX, NAMES),
  magic = ProtoField.string("p2pshare.magic", "Magic"),
  version = ProtoField.uint8("p2pshare.version", "Version", base.DEC),
  flags = ProtoField.uint8("p2pshare.flags", "Capabilities", base.HEX),
  cap_span = ProtoField.bool("p2pshare.flags.span", "SPAN: multi-piece requests", 8, nil, 0x01),
  span_count = ProtoField.uint32("p2pshare.span_count", "Pieces in span", base.DEC),
  peer_id = ProtoField.bytes("p2pshare.peer_id", "Peer ID"),
  listen_port = ProtoField.uint16("p2pshare.listen_port", "Listen port", base.DEC),
  share_id = ProtoField.bytes("p2pshare.share_id", "Share ID"),
  file_size = ProtoField.uint64("p2pshare.file_size", "File size", base.DEC),
  piece_size = ProtoField.uint32("p2pshare.piece_size", "Piece size", base.DEC),
  file_sha1 = ProtoField.bytes("p2pshare.file_sha1", "File SHA-1"),
  name_len = ProtoField.uint16("p2pshare.name_len", "Name length", base.DEC),
  name = ProtoField.string("p2pshare.name", "Name", base.UNICODE),
  bits = ProtoField.bytes("p2pshare.bits", "Bitfield"),
  index = ProtoField.uint32("p2pshare.index", "Piece index", base.DEC),
  offset = ProtoField.uint32("p2pshare.offset", "Offset", base.DEC),
  block_length = ProtoField.uint32("p2pshare.block_length", "Block length", base.DEC),
  data = ProtoField.bytes("p2pshare.data", "Data"),
  count = ProtoField.uint8("p2pshare.count", "Entries", base.DEC),
  family = ProtoField.uint8("p2pshare.family", "Family", base.DEC),
  ipv4 = ProtoField.ipv4("p2pshare.ipv4", "Address"),
  ipv6 = ProtoField.ipv6("p2pshare.ipv6", "Address"),
  port = ProtoField.uint16("p2pshare.port", "Port", base.DEC),
  chunk = ProtoField.uint32("p2pshare.chunk", "Metainfo chunk", base.DEC),
  total_size = ProtoField.uint32("p2pshare.total_size", "Metainfo size", base.DEC),
  code = ProtoField.uint16("p2pshare.code", "Error code", base.DEC, ERRORS),
  reason = ProtoField.string("p2pshare.reason", "Reason", base.UNICODE),
  payload = ProtoField.bytes("p2pshare.payload", "Payload"),
}
p2p.fields = {
  f.length, f.id, f.magic, f.version, f.flags, f.cap_span, f.span_count, f.peer_id, f.listen_port, f.share_id,
  f.file_size, f.piece_size, f.file_sha1, f.name_len, f.name, f.bits, f.index, f.offset,
  f.block_length, f.data, f.count, f.family, f.ipv4, f.ipv6, f.port, f.chunk, f.total_size,
  f.code, f.reason, f.payload,
}

local function block_ref(tree, buf)
  tree:add(f.index, buf(0, 4))
  tree:add(f.offset, buf(4, 4))
  tree:add(f.block_length, buf(8, 4))
end

local BODY = {
  [0x00] = function(tree, buf)
    tree:add(f.magic, buf(0, 4))
    tree:add(f.version, buf(4, 1))
    local flags = tree:add(f.flags, buf(5, 1))
    flags:add(f.cap_span, buf(5, 1))
    tree:add(f.peer_id, buf(6, 20))
    tree:add(f.listen_port, buf(26, 2))
    tree:add(f.share_id, buf(28, 32))
    tree:add(f.file_size, buf(60, 8))
    tree:add(f.piece_size, buf(68, 4))
    tree:add(f.file_sha1, buf(72, 20))
    local n = buf(92, 2):uint()
    tree:add(f.name_len, buf(92, 2))
    if n > 0 then tree:add(f.name, buf(94, n)) end
  end,
  [0x01] = function(tree, buf) if buf:len() > 0 then tree:add(f.bits, buf()) end end,
  [0x02] = function(tree, buf) tree:add(f.index, buf(0, 4)) end,
  [0x03] = block_ref, [0x05] = block_ref, [0x06] = block_ref,
  [0x04] = function(tree, buf)
    tree:add(f.index, buf(0, 4))
    tree:add(f.offset, buf(4, 4))
    if buf:len() > 8 then tree:add(f.data, buf(8)) end
  end,
  [0x0B] = function(tree, buf)
    local count = buf(0, 1):uint()
    tree:add(f.count, buf(0, 1))
    local pos = 1
    for _ = 1, count do
      local family = buf(pos + 20, 1):uint()
      local size = family == 6 and 16 or 4
      local entry = tree:add(p2p, buf(pos, 23 + size), "Peer")
      entry:add(f.peer_id, buf(pos, 20))
      entry:add(f.family, buf(pos + 20, 1))
      entry:add(family == 6 and f.ipv6 or f.ipv4, buf(pos + 21, size))
      entry:add(f.port, buf(pos + 21 + size, 2))
      pos = pos + 23 + size
    end
  end,
  [0x0C] = function(tree, buf) tree:add(f.chunk, buf(0, 4)) end,
  [0x0E] = function(tree, buf) tree:add(f.chunk, buf(0, 4)) end,
  [0x0D] = function(tree, buf)
    tree:add(f.chunk, buf(0, 4))
    tree:add(f.total_size, buf(4, 4))
    if buf:len() > 8 then tree:add(f.data, buf(8)) end
  end,
  [0x0F] = function(tree, buf)
    tree:add(f.code, buf(0, 2))
    if buf:len() > 2 then tree:add(f.reason, buf(2)) end
  end,
  [0x11] = function(tree, buf)
    tree:add(f.index, buf(0, 4))
    tree:add(f.span_count, buf(4, 4))
    if buf:len() > 8 then tree:add(f.data, buf(8)) end
  end,
}

local function span_ref(tree, buf)
  tree:add(f.index, buf(0, 4))
  tree:add(f.span_count, buf(4, 4))
end
BODY[0x10] = span_ref
BODY[0x12] = span_ref
BODY[0x13] = span_ref

local function frame_length(buf, pinfo, offset)
  return buf(offset, 4):uint() + 4
end

local function dissect_frame(buf, pinfo, root)
  pinfo.cols.protocol = "p2pshare"
  local length = buf(0, 4):uint()
  local name = "keepalive"
  local id
  if length > 0 then
    id = buf(4, 1):uint()
    name = NAMES[id] or string.format("unassigned 0x%02X", id)
  end
  local tree = root:add(p2p, buf(), "p2pshare " .. name)
  tree:add(f.length, buf(0, 4))
  if length > 0 then
    tree:add(f.id, buf(4, 1))
    local body = buf(5, length - 1)
    local decode = BODY[id]
    if decode and length > 1 then
      local ok, err = pcall(decode, tree, body:tvb())
      if not ok then tree:add_expert_info(PI_MALFORMED, PI_ERROR, "malformed: " .. tostring(err)) end
    elseif length > 1 then
      tree:add(f.payload, body)
    end
  end
  local text = tostring(pinfo.cols.info)
  if not text:find("p2pshare", 1, true) then pinfo.cols.info = "p2pshare" end
  pinfo.cols.info:append(" " .. name)
  return buf:len()
end

function p2p.dissector(buf, pinfo, root)
  dissect_tcp_pdus(buf, root, 4, frame_length, dissect_frame)
  return buf:len()
end

-- A connection is recognised by its first frame: a handshake, id 0, magic "P2PS".
local function heuristic(buf, pinfo, root)
  if buf:len() < 9 or buf(4, 1):uint() ~= 0 or buf(5, 4):string() ~= "P2PS" then
    return false
  end
  pinfo.conversation = p2p
  p2p.dissector(buf, pinfo, root)
  return true
end
p2p:register_heuristic("tcp", heuristic)
DissectorTable.get("tcp.port"):add_for_decode_as(p2p)
