"""Every access to a private dlt or PyIceberg name lives here."""
