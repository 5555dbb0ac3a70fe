"""fleet: hunt memory leaks across fleets of embedded Linux devices."""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

__version__ = "0.1.0"
DISTRIBUTION = "fleet-memleak"  # the name on the package index; `fleet` there is another project

# asyncssh still names DSA and FFDH types that new cryptography releases deprecate: five warnings at
# import and more per legacy key exchange, on every command and in every cron mail. They are about
# asyncssh's code, not about anything the user can change, so exactly those are silenced; any other
# warning goes to the log (fleet.cli routes ``py.warnings`` through its handler).
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)")
