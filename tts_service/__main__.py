from tts_service.cli import main

main()
