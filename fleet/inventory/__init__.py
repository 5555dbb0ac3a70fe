"""Inventories in: fleet YAML, Ansible (INI/YAML files, directories, group_vars/host_vars, the JSON of
ansible-inventory --list), ~/.ssh/config; out: frozen Device records."""
