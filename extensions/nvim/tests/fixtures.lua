-- Catalog entries' `input_fields` exactly as the server digests them from pydantic's input
-- schemas (codeforge/catalog/prompts.py; tests/test_catalog_prompts.py checks the digest), decoded
-- the way the plugin decodes LSP responses: JSON null in an object is nil.
local M = {}

local function decode(text)
  return vim.json.decode(text, { luanil = { object = true } })
end

M.ENV_SET = decode([=[[
 {"name": "name", "title": "Name", "description": "Variable name: letters, digits and underscores, not starting with a digit.", "kind": "string", "required": true, "nullable": false, "has_default": false, "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$"},
 {"name": "value", "title": "Value", "description": "The value.", "kind": "password", "required": true, "nullable": false, "has_default": false, "max_length": 65536, "secret_if": "secret"},
 {"name": "secret", "title": "Secret", "description": "Encrypted, never listed.", "kind": "boolean", "required": false, "nullable": false, "has_default": true, "default": false}
]]=])

M.ENV_IMPORT = decode([=[[
 {"name": "content", "title": "Content", "description": "Text of a .env file.", "kind": "file", "required": true, "nullable": false, "has_default": false, "max_length": 40, "file_hint": ".env"},
 {"name": "secret", "title": "Secret", "description": "", "kind": "boolean", "required": false, "nullable": false, "has_default": true, "default": false}
]]=])

M.JOBS_LIST = decode([=[[
 {"name": "project", "title": "Project", "description": "", "kind": "string", "required": false, "nullable": true, "has_default": true, "default": null},
 {"name": "state", "title": "JobState", "description": "", "kind": "enum", "required": false, "nullable": true, "has_default": true, "default": null, "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
 {"name": "limit", "title": "Limit", "description": "", "kind": "integer", "required": false, "nullable": false, "has_default": true, "default": 50, "minimum": 1, "maximum": 500}
]]=])

M.MEMBERS_ADD = decode([=[[
 {"name": "username", "title": "Username", "description": "Login name.", "kind": "string", "required": true, "nullable": false, "has_default": false, "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"},
 {"name": "role", "title": "Role", "description": "What the member may do.", "kind": "enum", "required": false, "nullable": false, "has_default": true, "default": "developer", "enum": ["viewer", "developer", "admin", "owner"]}
]]=])

M.TOKENS_CREATE = decode([=[[
 {"name": "name", "title": "Name", "description": "What the token is for.", "kind": "string", "required": true, "nullable": false, "has_default": false, "min_length": 1, "max_length": 100},
 {"name": "expires_in_days", "title": "Expires In Days", "description": "Days until it expires; null for never.", "kind": "integer", "required": false, "nullable": true, "has_default": true, "default": 90, "minimum": 1, "maximum": 3650},
 {"name": "username", "title": "Username", "description": "", "kind": "string", "required": false, "nullable": true, "has_default": true, "default": null}
]]=])

function M.op(name, fields, extra)
  return vim.tbl_extend('force', {
    name = name,
    title = 'Run ' .. name,
    capability = vim.split(name, '.', { plain = true })[1],
    command = 'codeforge.' .. name,
    permission = 'edit',
    long_running = false,
    destructive = false,
    lists_resources = false,
    input_fields = fields,
  }, extra or {})
end

return M
