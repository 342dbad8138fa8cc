from django.core.management.commands.runserver import Command as RunserverCommand

from demo.banner import demo_banner


class Command(RunserverCommand):
    """Django's runserver, whose last words at start-up are the demo's banner (issue 17, item 25).

    `make demo` seeds silently, then serves with this: the banner comes after Django's own start-up lines, so
    it is the last thing on the screen until the first request is logged.
    """

    help = "Serve the demo and print where to sign in once the server listens."

    def on_bind(self, server_port: int) -> None:
        super().on_bind(server_port)
        self.stdout.write(demo_banner())
