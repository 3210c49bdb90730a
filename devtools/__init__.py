"""Development tools: never imported by the application, never in requirements.txt."""
