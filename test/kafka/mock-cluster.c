/*
 * A Kafka cluster for integration tests, without a JVM: librdkafka's mock
 * cluster (rdkafka_mock.h) listening on loopback, speaking the real wire
 * protocol over TCP.
 *
 *   gcc -O2 -o mock-cluster test/kafka/mock-cluster.c -lrdkafka
 *   mock-cluster [-b brokers] [-p partitions] topic[:partitions]...
 *
 * Prints the bootstrap address (host:port,host:port,...) on one stdout line,
 * then serves until stdin reaches EOF or SIGTERM/SIGINT arrives, so a parent
 * that dies (even by SIGKILL) never leaves it behind.
 *
 * The mock supports produce, fetch, metadata, consumer groups
 * (FindCoordinator/JoinGroup/SyncGroup/Heartbeat/LeaveGroup/OffsetCommit/
 * OffsetFetch) and ListOffsets. It does NOT implement CreateTopics (topics are
 * created here instead) and reports no controller in Metadata, which clients
 * that look for the controller (kafkajs's idempotent producer, admin) need.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stopping = 0;

/*
 * Real Kafka brokers set TCP_NODELAY on every connection; librdkafka's mock
 * does not. With Nagle on the mock's side, a response written while the
 * previous one is unacknowledged waits for the client's delayed ACK (40 ms
 * on Linux): a client in its own process (sparse traffic, nothing to
 * piggyback ACKs on) then sees 40 ms commits and produces, which measures
 * the mock, not the client. The mock's listening sockets are found among
 * this process's descriptors; Linux copies TCP_NODELAY from a listening
 * socket to the connections it accepts.
 */
static int set_nodelay_on_listeners(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) return 0;
  int count = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    int fd = atoi(entry->d_name);
    if (fd <= STDERR_FILENO) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    int on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0) count++;
  }
  closedir(dir);
  return count;
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

int main(int argc, char **argv) {
  int brokers = 3;
  int partitions = 3;
  int opt;
  while ((opt = getopt(argc, argv, "b:p:")) != -1) {
    switch (opt) {
      case 'b': brokers = atoi(optarg); break;
      case 'p': partitions = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: %s [-b brokers] [-p partitions] topic[:partitions]...\n", argv[0]);
        return 2;
    }
  }
  if (brokers < 1 || partitions < 1) {
    fprintf(stderr, "brokers and partitions must be >= 1\n");
    return 2;
  }

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The handle only hosts the mock cluster's thread; keep it quiet. */
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "conf: %s\n", errstr);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (mcluster == NULL) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  if (set_nodelay_on_listeners() < brokers) fprintf(stderr, "warning: TCP_NODELAY not set on every mock broker listener\n");
  int replication = brokers < 3 ? brokers : 3;
  for (int i = optind; i < argc; i++) {
    /* "name" or "name:partitions" */
    char *topic = argv[i];
    int topic_partitions = partitions;
    char *colon = strrchr(topic, ':');
    if (colon != NULL) {
      *colon = '\0';
      topic_partitions = atoi(colon + 1);
      if (topic_partitions < 1) {
        fprintf(stderr, "topic %s: bad partition count\n", topic);
        return 2;
      }
    }
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, topic, topic_partitions, replication);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "topic %s: %s\n", topic, rd_kafka_err2str(err));
      rd_kafka_mock_cluster_destroy(mcluster);
      rd_kafka_destroy(rk);
      return 1;
    }
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);

  struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
  char buf[256];
  while (!stopping) {
    int n = poll(&pfd, 1, 200);
    if (n < 0 && errno != EINTR) break;
    if (n > 0) {
      ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) break;
    }
  }

  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
