--- Callback APIs (vim.ui.input, LSP requests) as straight-line code inside a coroutine.
local M = {}

--- Run `fn` in a new coroutine; an error inside it is reported, not lost.
function M.run(fn, ...)
  local co = coroutine.create(fn)
  local ok, err = coroutine.resume(co, ...)
  if not ok then
    vim.notify('CodeForge: ' .. tostring(err), vim.log.levels.ERROR)
  end
end

--- Call `fn(..., callback)` and wait for the callback; returns what it was called with.
function M.await(fn, ...)
  local co = coroutine.running()
  assert(co, 'codeforge.async.await must run inside codeforge.async.run')
  local args = { ... }
  local results, done, waiting = nil, false, false
  args[#args + 1] = function(...)
    -- A second call (a reply after a settled request) is ignored.
    if done then
      return
    end
    results, done = { n = select('#', ...), ... }, true
    if waiting then
      -- Resume on the main loop: the callback may come from a context that must not block.
      vim.schedule(function()
        local ok, err = coroutine.resume(co)
        if not ok then
          vim.notify('CodeForge: ' .. tostring(err), vim.log.levels.ERROR)
        end
      end)
    end
  end
  fn(unpack(args))
  if not done then
    waiting = true
    coroutine.yield()
  end
  return unpack(results, 1, results.n)
end

return M
