from millchain.cli.main import main

main()
