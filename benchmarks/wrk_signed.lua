-- wrk script for benchmarks/api.py: every request signed as docs/api.md ("Signed requests")
-- says, at the moment wrk sends it.
--
--   wrk -s benchmarks/wrk_signed.lua URL -- KEYS_FILE TARGETS_FILE
--
-- KEYS_FILE: one "api_key secret" per line; TARGETS_FILE: one path_with_query per line.
-- Each request: X-PipAI-Timestamp = the wall clock in ms (clock_gettime through LuaJIT's
-- FFI), X-PipAI-Signature = HMAC-SHA256 (below, in pure LuaJIT: wrk has no crypto) of
-- timestamp .. "GET" .. target. Targets and keys are each taken in turn, and a thread
-- sends at most as many requests in one millisecond as it has keys (it would wait for
-- the next millisecond, never the case with 256 keys), so no two requests share (key,
-- timestamp): no signature repeats, and the server's replay store accepts every one.
-- done() prints one JSON line of wrk's own figures for benchmarks/api.py to read.

local ffi = require("ffi")
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local ror, rshift, lshift, tobit, tohex = bit.ror, bit.rshift, bit.lshift, bit.tobit, bit.tohex
local byte, char, rep, format = string.byte, string.char, string.rep, string.format

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } pipai_timespec;
int clock_gettime(int clock_id, pipai_timespec *tp);
]]
local now = ffi.new("pipai_timespec")
local function now_ms()
  ffi.C.clock_gettime(0, now) -- CLOCK_REALTIME, the clock the server compares with
  return tonumber(now.tv_sec) * 1000 + math.floor(tonumber(now.tv_nsec) / 1000000)
end

-- ---- SHA-256 (FIPS 180-4) ------------------------------------------------------------
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local H0 = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
local W = {}

local function compress(H, s, off) -- one 64-byte block of s starting at off (1-based)
  for j = 0, 15 do
    local a, b, c, d = byte(s, off + j * 4, off + j * 4 + 3)
    W[j] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
  end
  for j = 16, 63 do
    local w15, w2 = W[j - 15], W[j - 2]
    local s0 = bxor(ror(w15, 7), ror(w15, 18), rshift(w15, 3))
    local s1 = bxor(ror(w2, 17), ror(w2, 19), rshift(w2, 10))
    W[j] = tobit(W[j - 16] + s0 + W[j - 7] + s1)
  end
  local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
  for j = 0, 63 do
    local t1 = h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(band(e, f), band(bnot(e), g))
               + K[j + 1] + W[j]
    local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c))
    h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + c), tobit(H[4] + d)
  H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
end

-- The digest of (whatever `state` has absorbed: `done` bytes) .. msg.
local function finish(state, done, msg)
  local H = { state[1], state[2], state[3], state[4], state[5], state[6], state[7], state[8] }
  local bits = (done + #msg) * 8
  local pad = (55 - (done + #msg)) % 64
  local s = msg .. "\128" .. rep("\0", pad) .. "\0\0\0\0"
            .. char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255),
                    band(rshift(bits, 8), 255), band(bits, 255))
  for off = 1, #s, 64 do compress(H, s, off) end
  return H
end

local function raw(H)
  local out = {}
  for i = 1, 8 do
    local x = H[i]
    out[i] = char(band(rshift(x, 24), 255), band(rshift(x, 16), 255),
                  band(rshift(x, 8), 255), band(x, 255))
  end
  return table.concat(out)
end

local function hex(H)
  return tohex(H[1]) .. tohex(H[2]) .. tohex(H[3]) .. tohex(H[4])
         .. tohex(H[5]) .. tohex(H[6]) .. tohex(H[7]) .. tohex(H[8])
end

local function xor_pad(key, with)
  local out = {}
  for i = 1, 64 do out[i] = char(bxor(byte(key, i), with)) end
  return table.concat(out)
end

-- HMAC-SHA256 (RFC 2104) with the two padded-key blocks absorbed once per key.
local function hmac_key(secret)
  if #secret > 64 then secret = raw(finish(H0, 0, secret)) end
  secret = secret .. rep("\0", 64 - #secret)
  local inner, outer = { unpack(H0) }, { unpack(H0) }
  compress(inner, xor_pad(secret, 0x36), 1)
  compress(outer, xor_pad(secret, 0x5c), 1)
  return { inner = inner, outer = outer }
end

local function hmac_hex(key, msg)
  return hex(finish(key.outer, 64, raw(finish(key.inner, 64, msg))))
end

-- ---- wrk hooks -----------------------------------------------------------------------
local threads = {}
local keys, targets = {}, {}
local n_target, n_key, last_ms, in_ms = 0, 0, -1, 0

local function lines(path)
  local out = {}
  for line in io.lines(path) do if #line > 0 then out[#out + 1] = line end end
  return out
end

function setup(thread)
  thread:set("index", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  local all = lines(args[1])
  targets = lines(args[2])
  local count = #threads > 0 and #threads or 1
  -- Each thread signs with its own slice of the keys (wrk threads share nothing).
  for i, line in ipairs(all) do
    if (i - 1) % count == (index or 0) then
      local api_key, secret = line:match("^(%S+)%s+(%S+)$")
      keys[#keys + 1] = { api_key = api_key, hmac = hmac_key(secret) }
    end
  end
  assert(#keys > 0 and #targets > 0, "no keys or no targets")
  -- Self-test against RFC 4231, test case 2.
  assert(hmac_hex(hmac_key("Jefe"), "what do ya want for nothing?")
         == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
end

function request()
  local ms = now_ms()
  if ms ~= last_ms then
    last_ms, in_ms = ms, 0
  elseif in_ms >= #keys then
    while now_ms() == ms do end
    ms = now_ms()
    last_ms, in_ms = ms, 0
  end
  in_ms = in_ms + 1
  n_key = n_key % #keys + 1
  local key = keys[n_key]
  n_target = n_target % #targets + 1
  local target = targets[n_target]
  local ts = format("%d", ms)
  return wrk.format("GET", target, {
    ["X-PipAI-API-Key"] = key.api_key,
    ["X-PipAI-Timestamp"] = ts,
    ["X-PipAI-Signature"] = hmac_hex(key.hmac, ts .. "GET" .. target),
  })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(format('{"wrk": true, "requests": %d, "duration_us": %d, "bytes": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, '
    .. '"non2xx": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, '
    .. '"timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
