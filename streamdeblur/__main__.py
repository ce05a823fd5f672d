from streamdeblur.cli import main

main()
