"""SSH to devices: the Transport contract and outcomes (outcomes), algorithm policy, credentials,
host keys, jump hosts, and the asyncssh and paramiko implementations (each library imported in one module)."""
