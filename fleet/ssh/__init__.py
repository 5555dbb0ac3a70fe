"""SSH to devices: the Transport contract and outcomes, and its asyncssh and paramiko implementations."""
