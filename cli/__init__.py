"""Shell: the `catalyst-preview` command line (process commands, doctor, replay)."""
