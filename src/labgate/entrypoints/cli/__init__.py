"""The labgate command line."""

import warnings

# asyncssh (2.24.1, the newest) imports DSA, which cryptography 51 deprecates: every command
# would start with that warning. labgate never offers or accepts DSA keys. Matched by message,
# not by cryptography's warning class: importing cryptography here would slow every command.
warnings.filterwarnings("ignore", message="DSA is deprecated")
