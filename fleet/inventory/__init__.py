"""Inventories in: fleet YAML, Ansible (INI/YAML), ~/.ssh/config; out: frozen Device records."""
