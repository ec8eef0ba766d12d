-- wrk script of bench/registry_bench.py: GET /api/v1/verify/?certificate=<random number>.
--   wrk ... -s bench/verify_random.lua http://127.0.0.1:PORT -- numbers.txt
-- The numbers file holds one certificate number a line. Each request also names a
-- random client address in X-Forwarded-For (the bench settings trust one proxy), so
-- the per-client throttle sees many clients, as in production, not one.

local numbers = {}

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the numbers file " .. tostring(args[1]))
  for line in file:lines() do
    if #line > 0 then numbers[#numbers + 1] = line end
  end
  file:close()
  assert(#numbers > 0, "the numbers file is empty")
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
  local number = numbers[math.random(#numbers)]
  local client = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  return wrk.format("GET", "/api/v1/verify/?certificate=" .. number, {["X-Forwarded-For"] = client})
end
