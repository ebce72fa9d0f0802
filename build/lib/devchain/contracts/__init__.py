"""The contracts devchain runs: the reward token, the JobRegistry and the accounts."""
