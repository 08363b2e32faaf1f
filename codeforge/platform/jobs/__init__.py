"""Jobs: long operations run in the background with persisted state and an event stream."""
