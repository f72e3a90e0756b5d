from llm4teach.cli import main

main()
