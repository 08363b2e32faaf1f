from codeforge.cli import main

main()
