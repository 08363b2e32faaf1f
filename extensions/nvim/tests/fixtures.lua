-- Input schemas exactly as the platform's catalog gives them (pydantic 2 output, from
-- `describe_catalog()`), decoded the way the plugin decodes LSP responses.
local M = {}

local PROJECT = [[{"description": "Project slug", "maxLength": 63, "minLength": 1, "title": "Project", "type": "string", "x-codeforge-context": "project"}]]

M.ENV_SET = vim.json.decode([[{"additionalProperties": false, "properties": {"project": ]] .. PROJECT .. [[,
 "name": {"description": "Variable name: letters, digits and underscores, not starting with a digit.", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$", "title": "Name", "type": "string"},
 "value": {"description": "The value.", "format": "password", "maxLength": 65536, "title": "Value", "type": "string", "x-codeforge-secret-if": "secret"},
 "secret": {"default": false, "description": "Encrypted, never listed.", "title": "Secret", "type": "boolean"}},
 "required": ["project", "name", "value"], "title": "EnvSetInput", "type": "object"}]])
M.ENV_SET_ORDER = { 'project', 'name', 'value', 'secret' }

M.ENV_IMPORT = vim.json.decode([[{"properties": {"project": ]] .. PROJECT .. [[,
 "content": {"description": "Text of a .env file.", "maxLength": 40, "title": "Content", "type": "string", "x-codeforge-file": ".env"},
 "secret": {"default": false, "title": "Secret", "type": "boolean"}}, "required": ["project", "content"], "type": "object"}]])

M.JOBS_LIST = vim.json.decode([[{"$defs": {"JobState": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"], "title": "JobState", "type": "string"}},
 "properties": {"project": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Project"},
 "state": {"anyOf": [{"$ref": "#/$defs/JobState"}, {"type": "null"}], "default": null},
 "limit": {"default": 50, "maximum": 500, "minimum": 1, "title": "Limit", "type": "integer"}}, "type": "object"}]])
M.JOBS_LIST_ORDER = { 'project', 'state', 'limit' }

M.MEMBERS_ADD = vim.json.decode([[{"$defs": {"Role": {"enum": ["viewer", "developer", "admin", "owner"], "title": "Role", "type": "string"}},
 "properties": {"username": {"description": "Login name.", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$", "title": "Username", "type": "string"},
 "role": {"$ref": "#/$defs/Role", "default": "developer", "description": "What the member may do."}}, "required": ["username"], "type": "object"}]])

M.TOKENS_CREATE = vim.json.decode([[{"properties": {"name": {"description": "What the token is for.", "maxLength": 100, "minLength": 1, "title": "Name", "type": "string"},
 "expires_in_days": {"anyOf": [{"maximum": 3650, "minimum": 1, "type": "integer"}, {"type": "null"}], "default": 90, "description": "Days until it expires; null for never.", "title": "Expires In Days"},
 "username": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Username"}}, "required": ["name"], "type": "object"}]])
M.TOKENS_CREATE_ORDER = { 'name', 'expires_in_days', 'username' }

function M.op(name, schema, order, extra)
  return vim.tbl_extend('force', {
    name = name,
    title = 'Run ' .. name,
    capability = vim.split(name, '.', { plain = true })[1],
    command = 'codeforge.' .. name,
    long_running = false,
    destructive = false,
    lists_resources = false,
    input_schema = schema,
    input_order = order,
  }, extra or {})
end

return M
