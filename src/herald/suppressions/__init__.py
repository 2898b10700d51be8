"""Do-not-contact lists and the workspace suppression list: who must not be contacted, and why."""
