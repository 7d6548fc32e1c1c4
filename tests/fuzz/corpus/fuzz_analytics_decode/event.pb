 €€¨±ãŸçË*/data/a2
size40962
kv:
user_idu1:

tagredBacmeHRpXjabcpè‡¨±ãŸçË