"""Settlement domain: workers paid by `finalize_job` once their jobs' deadlines pass."""
