"""callflow: a contact-center engine on Asterisk, driven over ARI."""

__version__ = "0.1.0"
