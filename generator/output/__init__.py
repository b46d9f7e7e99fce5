"""What leaves the pipeline: the encoded file, its tags and chapters, the transcript, feeds, pictures."""
