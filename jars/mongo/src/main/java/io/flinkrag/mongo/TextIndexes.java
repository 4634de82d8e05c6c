package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.ObjectId;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Atlas Search ({@code type: "search"}) indexes of every collection, beside the vector ones
 * in {@link SearchIndexes}: definitions saved in a file next to the data, each index built from
 * its collection when created (and at start), then kept in step with every write in the write's
 * own command, so a search reads its writes.
 */
final class TextIndexes implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TextIndexes.class);

  private final Map<String, TextIndex> byId = new ConcurrentHashMap<>();
  private final Path definitionsFile;
  private final BiFunction<String, String, StoredDocuments> collections;

  TextIndexes(Path dataFile, BiFunction<String, String, StoredDocuments> collections) {
    this.definitionsFile = dataFile.resolveSibling(dataFile.getFileName() + ".text-indexes.bson");
    this.collections = collections;
  }

  /** Whether a createSearchIndexes entry is for this class: Atlas's default type is "search". */
  static boolean isText(Document spec) {
    return "search".equals(String.valueOf(spec.getOrDefault("type", "search")));
  }

  void load() {
    if (!Files.exists(definitionsFile)) {
      return;
    }
    try {
      ByteBuf buffer = Unpooled.wrappedBuffer(Files.readAllBytes(definitionsFile));
      for (Object entry : (List<?>) BsonDecoder.decodeBson(buffer).get("indexes")) {
        Document saved = (Document) entry;
        TextIndex index = new TextIndex((String) saved.get("id"), (String) saved.get("name"),
            (String) saved.get("database"), (String) saved.get("collection"),
            TextIndexDefinition.parse(saved.get("definition")));
        index.version = ((Number) saved.get("version")).intValue();
        byId.put(index.id, index);
        build(index);
      }
    } catch (IOException | RuntimeException err) {
      log.error("cannot read search index definitions from {}: {}", definitionsFile, err.toString());
    }
  }

  /** Checks the definition first, so that a bad entry creates none of the batch (as on Atlas). */
  TextIndex prepare(String database, String collection, Document spec) {
    String name = String.valueOf(spec.getOrDefault("name", "default"));
    return new TextIndex(new ObjectId().getHexData(), name, database, collection,
        TextIndexDefinition.parse(spec.get("definition")));
  }

  /** Registers and builds prepared indexes (call under the collection's write lock). */
  void add(List<TextIndex> created) {
    for (TextIndex index : created) {
      byId.put(index.id, index);
      build(index);
    }
    save();
  }

  /**
   * A new definition is built into a fresh index that replaces the old one once built, so the
   * old one answers until then, as on Atlas. Call under the collection's write lock: no write
   * can fall between the build's read of the collection and the swap.
   */
  boolean update(String database, String collection, Document command) {
    TextIndex index = find(database, collection, command);
    if (index == null) {
      return false;
    }
    TextIndex fresh = new TextIndex(index.id, index.name, database, collection,
        TextIndexDefinition.parse(command.get("definition")));
    fresh.version = index.version + 1;
    build(fresh);
    byId.put(fresh.id, fresh);
    save();
    try {
      index.close();
    } catch (IOException err) {
      log.warn("closing the previous build of search index {}: {}", index.name, err.toString());
    }
    return true;
  }

  boolean drop(String database, String collection, Document command) {
    TextIndex index = find(database, collection, command);
    if (index == null) {
      return false;
    }
    remove(List.of(index));
    return true;
  }

  void dropNamespace(String database, String collection) {
    List<TextIndex> gone = new ArrayList<>();
    for (TextIndex index : byId.values()) {
      if (index.database.equals(database) && (collection == null || index.collection.equals(collection))) {
        gone.add(index);
      }
    }
    if (!gone.isEmpty()) {
      remove(gone);
    }
  }

  List<Document> list(String database, String collection, Document filter) {
    List<Document> found = new ArrayList<>();
    for (TextIndex index : of(database, collection)) {
      Object name = filter.get("name");
      Object id = filter.get("id");
      if ((name == null || name.equals(index.name)) && (id == null || id.equals(index.id))) {
        found.add(index.describe());
      }
    }
    return found;
  }

  TextIndex named(String database, String collection, String name) {
    for (TextIndex index : of(database, collection)) {
      if (index.name.equals(name)) {
        return index;
      }
    }
    return null;
  }

  boolean hasIndexes(String database, String collection) {
    return !of(database, collection).isEmpty();
  }

  /** Re-reads the given documents into every text index of the collection (call under lock). */
  void reindex(String database, String collection, Collection<Object> ids) {
    List<TextIndex> indexes = of(database, collection);
    if (indexes.isEmpty()) {
      return;
    }
    StoredDocuments source = collections.apply(database, collection);
    for (Object id : ids) {
      Document doc = source == null ? null : source.byId(id);
      for (TextIndex index : indexes) {
        try {
          if (doc == null) {
            index.delete(id);
          } else {
            index.upsert(doc);
          }
        } catch (IOException | RuntimeException err) {
          log.error("search index {} could not index {}: {}", index.name, id, err.toString());
        }
      }
    }
  }

  /** Every text index of the collection rebuilt (a write whose ids cannot be known). */
  void rebuildAll(String database, String collection) {
    for (TextIndex index : of(database, collection)) {
      build(index);
    }
  }

  private void build(TextIndex index) {
    StoredDocuments source = collections.apply(index.database, index.collection);
    try {
      index.rebuild(source == null ? List.of() : (Iterable<Document>) source.streamAll()::iterator);
    } catch (IOException | RuntimeException err) {
      log.error("search index {} on {}.{} FAILED", index.name, index.database, index.collection, err);
      index.status = SearchIndex.FAILED;
    }
  }

  private TextIndex find(String database, String collection, Document command) {
    Object name = command.get("name");
    Object id = command.get("id");
    for (TextIndex index : of(database, collection)) {
      if ((name != null && name.equals(index.name)) || (id != null && id.equals(index.id))) {
        return index;
      }
    }
    return null;
  }

  private List<TextIndex> of(String database, String collection) {
    List<TextIndex> found = new ArrayList<>();
    for (TextIndex index : byId.values()) {
      if (index.database.equals(database) && index.collection.equals(collection)) {
        found.add(index);
      }
    }
    return found;
  }

  private void remove(List<TextIndex> gone) {
    for (TextIndex index : gone) {
      byId.remove(index.id);
      try {
        index.close();
      } catch (IOException err) {
        log.warn("closing search index {}: {}", index.name, err.toString());
      }
    }
    save();
  }

  private synchronized void save() {
    List<Document> saved = new ArrayList<>();
    for (TextIndex index : byId.values()) {
      saved.add(index.persisted());
    }
    ByteBuf buffer = Unpooled.buffer();
    try {
      BsonEncoder.encodeDocument(new Document("indexes", saved), buffer);
      byte[] bytes = new byte[buffer.readableBytes()];
      buffer.readBytes(bytes);
      Path temp = definitionsFile.resolveSibling(definitionsFile.getFileName() + ".tmp");
      Files.write(temp, bytes);
      Files.move(temp, definitionsFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    } finally {
      buffer.release();
    }
  }

  static MongoServerError duplicate(String name) {
    return new MongoServerError(68, "IndexAlreadyExists", "Index " + name + " already exists.");
  }

  @Override
  public void close() {
    for (TextIndex index : byId.values()) {
      try {
        index.close();
      } catch (IOException ignored) {
        // shutting down
      }
    }
  }
}
