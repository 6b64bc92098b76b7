from pipai.cli import main

main()
