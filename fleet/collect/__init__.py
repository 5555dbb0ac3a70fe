"""Collection: many devices at once over SSH, each sample stored as it arrives."""
