package io.flinkrag.mongo;

import de.bwaldvogel.mongo.backend.Missing;
import de.bwaldvogel.mongo.bson.Document;
import java.util.stream.Stream;
import org.h2.mvstore.MVMap;

/**
 * A collection's documents read straight from its H2 map, keyed by {@code _id}: a point read and
 * a stream of all, without the collection's lock (MVStore maps are safe for concurrent reads).
 * The search indexes read this way so that lookups and builds do not queue behind queries.
 */
final class StoredDocuments {
  /** The map name H2Database gives a collection's documents; existing data files open unchanged. */
  static String mapName(String database, String collection) {
    return "databases." + database + "." + collection;
  }

  private final MVMap<Object, Document> data;

  StoredDocuments(MVMap<Object, Document> data) {
    this.data = data;
  }

  Document byId(Object id) {
    return data.get(Missing.ofNullable(id));
  }

  Stream<Document> streamAll() {
    return data.values().stream();
  }
}
