"""Apply: execute a Plan's steps in dependency order, journalling each into state."""
