"""The message store: SMS/MMS, fax, voicemail, pager and attachments."""
