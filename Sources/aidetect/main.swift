import AIDetectCLI

AIDetect.main()
