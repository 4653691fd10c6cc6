"""`pai mcp`: the user's memory as an MCP server, over stdio and streamable HTTP.

    memory.py   the served memory: the shared tools (pai_cli/core/tools.py) for the user fixed
                at start, run on one worker thread, errors as one-line messages
    serve.py    start-up: warm the store beside the SDK import, then run a transport
    server.py   the thin adapter onto the official SDK (`mcp`, its MCPServer): the only
                module that imports it
    token.py    the bearer token of the HTTP transport (0600 in the data dir)
    install.py  writing pai into the config of Claude Code, Claude Desktop, Cursor, Codex

Nothing here imports an adapter or the CLI: the store comes from the wiring.
"""
