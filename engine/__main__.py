from engine.worker import main

main()
