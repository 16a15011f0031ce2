//! Task agentic-shell.
