from workers.engine_worker import main

main()
