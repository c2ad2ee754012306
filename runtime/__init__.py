"""Running programs: the reference interpreter and ScriptModule."""
