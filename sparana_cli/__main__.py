from sparana_cli.cli import main

main(prog_name="sparana")
