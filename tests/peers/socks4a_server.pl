#!/usr/bin/perl
# A SOCKS4/SOCKS4a server for tcpc's tests, on IO::Socket::Socks (Debian
# libio-socket-socks-perl): danted refuses SOCKS4a, so tests reach a real 4a
# server through this one.
#   perl socks4a_server.pl PORT [USERID]
# Listens on 127.0.0.1:PORT only. With USERID, any other user id gets reply 93.
# Each client is served by a forked child that relays both ways and passes a
# half-close on (shutdown(SHUT_WR) when one side sends EOF). SIGTERM stops the
# server and its children.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::Socks qw(:constants $SOCKS_ERROR);
use IO::Select;
use POSIX ();

my ($port, $userid) = @ARGV;
die "usage: $0 PORT [USERID]\n" unless defined $port && $port =~ /^\d+$/;

my %children;
$SIG{TERM} = sub { kill 'TERM', keys %children; exit 0 };
$SIG{CHLD} = sub { while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $children{$pid} } };

my $server = IO::Socket::Socks->new(
  ProxyAddr    => '127.0.0.1',
  ProxyPort    => $port,
  Listen       => 16,
  ReuseAddr    => 1,
  SocksVersion => 4,
  SocksResolve => 1,    # hand names (SOCKS4a) to us unresolved
  (defined $userid ? (UserAuth => sub { return $_[0] eq $userid }, RequireAuth => 1) : ()),
) or die "listen: $SOCKS_ERROR\n";

while (1) {
  my $client = $server->accept() or next;
  my $pid = fork();
  if (!defined $pid) { close $client; next }
  if ($pid) { $children{$pid} = 1; close $client; next }
  $SIG{TERM} = 'DEFAULT';
  close $server;
  serve($client);
  exit 0;
}

sub serve {
  my ($client) = @_;
  my $command = $client->command() or return;
  my ($cmd, $host, $tport) = @$command;
  return $client->command_reply(REQUEST_FAILED, '0.0.0.0', 0) unless $cmd == CMD_CONNECT;
  my $target = IO::Socket::INET->new(PeerHost => $host, PeerPort => $tport, Proto => 'tcp', Timeout => 10);
  unless ($target) {
    $client->command_reply(REQUEST_FAILED, '0.0.0.0', 0);
    return;
  }
  $client->command_reply(REQUEST_GRANTED, $target->sockhost, $target->sockport);
  relay($client, $target);
}

sub relay {
  my ($a, $b) = @_;
  my %peer = ($a => $b, $b => $a);
  my $select = IO::Select->new($a, $b);
  my $open = 2;
  while ($open > 0) {
    my @ready = $select->can_read(600) or last;
    for my $from (@ready) {
      my $n = sysread($from, my $buffer, 65536);
      if (!$n) {
        # EOF (or an error): pass the half-close on, keep the other direction.
        $select->remove($from);
        shutdown($peer{$from}, 1);
        $open--;
        next;
      }
      my $off = 0;
      while ($off < $n) {
        my $w = syswrite($peer{$from}, $buffer, $n - $off, $off);
        return unless defined $w;
        $off += $w;
      }
    }
  }
}
