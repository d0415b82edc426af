"""Built-in tasks. Each module holds one task; its ladder lives in conf/task/<name>.yaml."""
