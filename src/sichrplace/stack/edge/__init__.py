"""The edge of the local stack: nginx's cache config (`conf`), the `edge` program that counts
the views it served and indexes what it stored (`program`), and its hit ratio (`hits`)."""
