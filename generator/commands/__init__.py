"""One module per subcommand; each defines ``command``. Only these modules print and exit."""
