# WEBrick serving the seed's hello world, for `npm run bench` (when ruby-webrick is installed).
require 'webrick'
server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: Integer(ARGV[0]), Logger: WEBrick::Log.new(File::NULL), AccessLog: [])
server.mount_proc('/') { |_req, res| res.status = 200; res['content-type'] = 'text/html'; res.body = "Hello World\n" }
trap('TERM') { server.shutdown }
server.start
