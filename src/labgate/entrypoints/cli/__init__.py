"""The labgate command line."""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

# asyncssh (2.24.1, the newest) imports DSA, which cryptography 51 deprecates: every command
# would start with that warning. labgate never offers or accepts DSA keys.
warnings.filterwarnings(
    "ignore", message="DSA is deprecated", category=CryptographyDeprecationWarning
)
