"""The `podium` subcommands; each module registers its own on the parser."""
