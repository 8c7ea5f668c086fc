-- tshark -X lua_script:filter_taps.lua, with PV_FILTERS naming a file of display
-- filters, one a line: prints "K FRAME" for every frame that filter K (1-based)
-- matches. One tap per filter, so one pass over a capture answers them all,
-- with the same filter engine as -Y.
local filters = {}
for line in io.lines(os.getenv("PV_FILTERS")) do filters[#filters + 1] = line end
for k, text in ipairs(filters) do
  local tap = Listener.new(nil, text)
  function tap.packet(pinfo) print(k .. " " .. pinfo.number) end
end
