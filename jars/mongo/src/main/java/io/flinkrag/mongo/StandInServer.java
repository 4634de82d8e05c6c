package io.flinkrag.mongo;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Local MongoDB stand-in: mongo-java-server with the H2 backend, so documents survive restarts,
 * plus Atlas Vector Search ({@code $vectorSearch} and the search-index commands) on Lucene HNSW.
 *
 * <p>Usage: {@code StandInServer <data-file> [host] [port]}. Stops cleanly on SIGTERM (the JVM
 * runs the shutdown hook, which flushes the H2 store).
 */
public final class StandInServer {
  private StandInServer() {}

  /**
   * Reports MongoDB 4.4 (wire version 9): the library's newest setting reports wire version 8,
   * which current drivers (pymongo 4.14+, Java driver 5.5+) refuse.
   */
  private static final class MongoVersion44 implements MongoVersion {
    @Override
    public List<Integer> getVersionArray() {
      return List.of(4, 4, 0);
    }

    @Override
    public int getWireVersion() {
      return 9;
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 1 || args.length > 3) {
      System.err.println("usage: StandInServer <data-file> [host=127.0.0.1] [port=27027]");
      System.exit(2);
    }
    Path dataFile = Path.of(args[0]).toAbsolutePath();
    String host = args.length > 1 ? args[1] : "127.0.0.1";
    int port = args.length > 2 ? Integer.parseInt(args[2]) : 27027;
    if (dataFile.getParent() != null) {
      Files.createDirectories(dataFile.getParent());
    }

    MongoBackend backend = new SearchBackend(dataFile).version(new MongoVersion44());
    MongoServer server = new MongoServer(backend);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  server.shutdown();
                  stopped.countDown();
                },
                "stand-in-shutdown"));
    try {
      server.bind(host, port);
    } catch (RuntimeException err) {
      System.err.println("cannot listen on " + host + ":" + port + ": " + err.getMessage());
      System.exit(1);
    }
    System.out.println("MongoDB stand-in listening on " + host + ":" + port + " data " + dataFile);
    stopped.await();
  }
}
